"""The web console (docs/console.md): a small Starlette app and plain HTML/CSS/JS pages,
served by a gateway's worker 0 on ``--console-port``. It acts as the signed-in user through
real S3 requests to its own gateway, so S3's one authorization step decides what it shows;
what else it reads (usage counters, the cluster's state) the composition root hands it."""
