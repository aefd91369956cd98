// Cairn console: plain JS, no build step. Every call goes to the console's /api, which
// makes real S3 requests as the signed-in user. Names and keys are only ever put into
// the page with textContent (never as HTML): an object key cannot inject markup.
"use strict";

const state = { csrf: null, admin: false, bucketTokens: [""], bucketPage: 0,
                objectTokens: [""], objectPage: 0, where: null, clusterTimer: null };
const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function say(text, ok = false) {
  const m = $("message");
  m.textContent = text; m.className = ok ? "ok" : ""; m.hidden = !text;
}

async function api(method, path, body) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (method !== "GET" && state.csrf) init.headers["X-Cairn-CSRF"] = state.csrf;
  if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) { const e = new Error(data.message || res.statusText); e.status = res.status; e.code = data.error; throw e; }
  return data;
}

function size(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0; while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + units[i];
}
const q = (params) => new URLSearchParams(params).toString();

// ------------------------------------------------------------------ views and routing

function show(view) {
  for (const id of ["sign-in-view", "buckets-view", "objects-view", "cluster-view"]) $(id).hidden = id !== view;
  $("nav-buckets").classList.toggle("active", view === "buckets-view" || view === "objects-view");
  $("nav-cluster").classList.toggle("active", view === "cluster-view");
  if (view !== "cluster-view" && state.clusterTimer) { clearInterval(state.clusterTimer); state.clusterTimer = null; }
}

function signedIn(session) {
  state.csrf = session.csrf; state.admin = session.admin;
  $("nav").hidden = false; $("who").hidden = false; $("who-key").textContent = session.user;
  $("nav-cluster").hidden = !session.admin;
}

async function route() {
  if (!state.csrf) {
    try { signedIn(await api("GET", "/api/session")); }
    catch (e) { show("sign-in-view"); return; }
  }
  const hash = decodeURIComponent(location.hash.slice(1) || "/buckets");
  say("");
  if (hash.startsWith("/b/")) {
    const rest = hash.slice(3); const cut = rest.indexOf("/");
    const bucket = cut < 0 ? rest : rest.slice(0, cut);
    const prefix = cut < 0 ? "" : rest.slice(cut + 1);
    return openPrefix(bucket, prefix);
  }
  if (hash === "/cluster" && state.admin) return openCluster();
  state.bucketTokens = [""]; state.bucketPage = 0;
  return openBuckets();
}

const bucketHash = (bucket, prefix = "") => "#/b/" + encodeURIComponent(bucket + "/" + prefix);

// ------------------------------------------------------------------ buckets

async function openBuckets() {
  show("buckets-view");
  const data = await api("GET", "/api/buckets?" + q({ token: state.bucketTokens[state.bucketPage] }));
  const body = $("buckets-table").tBodies[0]; body.replaceChildren();
  for (const b of data.buckets) {
    body.append(el("tr", { "data-bucket": b.name },
      el("td", {}, el("a", { href: bucketHash(b.name), class: "bucket-link", text: b.name })),
      el("td", { class: "num", text: b.objects === null ? "–" : String(b.objects) }),
      el("td", { class: "num", text: size(b.bytes) }),
      el("td", { text: b.created.replace("T", " ").replace(/\.\d+Z$/, "Z") })));
  }
  if (!data.buckets.length) body.append(el("tr", {}, el("td", { colspan: "4", class: "hint", text: "No buckets" })));
  if (data.next && state.bucketTokens.length === state.bucketPage + 1) state.bucketTokens.push(data.next);
  $("buckets-prev").disabled = state.bucketPage === 0;
  $("buckets-next").disabled = !data.next;
  $("buckets-page").textContent = "page " + (state.bucketPage + 1);
}

async function createBucket(ev) {
  ev.preventDefault();
  const name = $("new-bucket").value.trim();
  try { await api("POST", "/api/buckets", { name }); $("new-bucket").value = ""; await openBuckets(); say("Created " + name, true); }
  catch (e) { say(e.code + ": " + e.message); }
}

// ------------------------------------------------------------------ objects

async function openPrefix(bucket, prefix, keepPage = false) {
  show("objects-view");
  if (!state.where || state.where.bucket !== bucket || state.where.prefix !== prefix || !keepPage) {
    if (!keepPage) { state.objectTokens = [""]; state.objectPage = 0; }
  }
  state.where = { bucket, prefix };
  crumbs(bucket, prefix);
  let data;
  try { data = await api("GET", "/api/objects?" + q({ bucket, prefix, token: state.objectTokens[state.objectPage] })); }
  catch (e) { say(e.code + ": " + e.message); $("objects-table").tBodies[0].replaceChildren(); return; }
  const body = $("objects-table").tBodies[0]; body.replaceChildren();
  for (const p of data.prefixes) {
    const name = p.slice(prefix.length);
    body.append(el("tr", { "data-prefix": p },
      el("td", {}, el("a", { href: bucketHash(bucket, p), class: "folder", text: name })),
      el("td", { class: "num", text: "" }), el("td", {}), el("td", {})));
  }
  for (const o of data.objects) body.append(objectRow(bucket, prefix, o));
  if (!data.prefixes.length && !data.objects.length) body.append(el("tr", {}, el("td", { colspan: "4", class: "hint", text: "Empty" })));
  if (data.next && state.objectTokens.length === state.objectPage + 1) state.objectTokens.push(data.next);
  $("objects-prev").disabled = state.objectPage === 0;
  $("objects-next").disabled = !data.next;
  $("objects-page").textContent = "page " + (state.objectPage + 1);
}

function crumbs(bucket, prefix) {
  const h = $("crumbs"); h.replaceChildren(el("a", { href: "#/buckets", text: "Buckets" }), " / ",
    el("a", { href: bucketHash(bucket), text: bucket }));
  let path = "";
  for (const part of prefix.split("/").filter(Boolean)) {
    path += part + "/";
    h.append(" / ", el("a", { href: bucketHash(bucket, path), text: part }));
  }
}

function objectRow(bucket, prefix, o) {
  const link = "/api/object?" + q({ bucket, key: o.key });
  return el("tr", { "data-key": o.key },
    el("td", { class: "object-name", text: o.key.slice(prefix.length) }),
    el("td", { class: "num", text: size(o.size) }),
    el("td", { text: o.modified.replace("T", " ").replace(/\.\d+Z$/, "Z") }),
    el("td", {},
      el("a", { href: link, class: "button download", download: o.key.split("/").pop(), text: "Download" }),
      el("button", { type: "button", class: "presign", text: "Link", onclick: () => presign(bucket, o.key) }),
      el("button", { type: "button", class: "delete", text: "Delete", onclick: () => remove(bucket, o.key) })));
}

async function remove(bucket, key) {
  if (!confirm("Delete " + key + "?")) return;
  try { await api("DELETE", "/api/object?" + q({ bucket, key })); await openPrefix(bucket, state.where.prefix, true); say("Deleted " + key, true); }
  catch (e) { say(e.code + ": " + e.message); }
}

async function presign(bucket, key) {
  try {
    const data = await api("POST", "/api/presign", { bucket, key, expires: 3600 });
    $("link-box").hidden = false; $("link-url").value = data.url; $("link-url").select();
  } catch (e) { say(e.code + ": " + e.message); }
}

async function copyLink() {
  const url = $("link-url").value;
  try { await navigator.clipboard.writeText(url); say("Link copied", true); }
  catch (e) { $("link-url").select(); document.execCommand("copy"); say("Link copied", true); }
}

// Uploads go through XHR: its upload.onprogress drives the bar while the body streams.
function upload(ev) {
  ev.preventDefault();
  const file = $("upload-file").files[0];
  if (!file || !state.where) return;
  const { bucket, prefix } = state.where;
  const key = prefix + file.name;
  const xhr = new XMLHttpRequest();
  const bar = $("upload-progress"); bar.hidden = false; bar.value = 0;
  $("upload-button").disabled = true; $("upload-status").textContent = "0%";
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) { bar.value = (100 * e.loaded) / e.total; $("upload-status").textContent = Math.floor(bar.value) + "%"; } };
  xhr.onloadend = async () => {
    $("upload-button").disabled = false;
    if (xhr.status >= 200 && xhr.status < 300) {
      bar.value = 100; $("upload-status").textContent = "Uploaded " + file.name;
      $("upload-file").value = ""; await openPrefix(bucket, prefix, true);
    } else {
      let msg = xhr.statusText; try { const d = JSON.parse(xhr.responseText); msg = d.error + ": " + d.message; } catch (e) {}
      $("upload-status").textContent = "Failed"; say(msg || "Upload failed");
    }
  };
  xhr.open("PUT", "/api/object?" + q({ bucket, key }));
  xhr.setRequestHeader("X-Cairn-CSRF", state.csrf);
  xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
  xhr.send(file);
}

// ------------------------------------------------------------------ cluster

async function openCluster() {
  show("cluster-view");
  await refreshCluster();
  if (!state.clusterTimer) state.clusterTimer = setInterval(refreshCluster, 2000);
}

async function refreshCluster() {
  let data;
  try { data = await api("GET", "/api/cluster"); } catch (e) { say(e.code + ": " + e.message); return; }
  $("cluster-mode").textContent = data.mode || "";
  const L = data.layout;
  $("layout-line").textContent = L && L.version !== null
    ? `Layout v${L.version}: ${L.partitions} partitions, ${L.replicas} replicas each` : "No layout (fixed local block stores)";
  const body = $("nodes-table").tBodies[0]; body.replaceChildren();
  for (const n of data.nodes) body.append(nodeRow(n));
  const jobs = $("jobs-table").tBodies[0]; jobs.replaceChildren();
  for (const j of data.jobs) jobs.append(el("tr", { "data-job": j.name },
    el("td", { text: j.name }), el("td", { text: j.where }),
    el("td", { class: "job-state" }, ...(j.progress === null || j.progress === undefined ? [] : [progressBar(j.progress)]), j.state),
    el("td", { text: j.backlog === null || j.backlog === undefined ? "–" : String(j.backlog) })));
  chart($("chart-requests"), data.requests, ["all"]);
  chart($("chart-errors"), data.requests, ["4xx", "5xx"]);
}

function progressBar(fraction) {
  const fill = el("span"); fill.style.width = (100 * Math.min(1, fraction)).toFixed(1) + "%";
  return el("span", { class: "bar job-bar" }, fill);
}

function nodeRow(n) {
  const frac = n.capacity ? Math.min(1, n.used / n.capacity) : 0;
  const fill = el("span"); fill.style.width = (100 * frac).toFixed(1) + "%";
  const bar = el("span", { class: "bar" + (frac > 0.85 ? " high" : "") }, fill);
  return el("tr", { "data-node": n.id, class: n.up ? "is-up" : "is-down" },
    el("td", { title: n.url || "", text: n.id }),
    el("td", { text: n.zone || "–" }),
    el("td", { class: "health " + (n.up ? "up" : "down"), text: n.up ? "up" : "down" }),
    el("td", { class: "lease", text: n.lease }),
    el("td", {}, bar, el("span", { class: "bar-label", text: `${size(n.used)} of ${size(n.capacity)}` })),
    el("td", { class: "num", text: n.partitions === null ? "–" : String(n.partitions) }),
    el("td", { text: n.heartbeat_age === null ? "–" : n.heartbeat_age.toFixed(1) + " s ago" }));
}

// A line chart in SVG: one polyline per series, scaled to the largest value shown.
function chart(svg, points, series) {
  const NS = "http://www.w3.org/2000/svg", W = 400, H = 120, pad = 18;
  svg.replaceChildren();
  const top = Math.max(1, ...points.flatMap((p) => series.map((s) => p[s])));
  const line = (x1, y1, x2, y2) => { const l = document.createElementNS(NS, "line");
    for (const [k, v] of Object.entries({ x1, y1, x2, y2 })) l.setAttribute(k, v); l.setAttribute("class", "axis"); return l; };
  svg.append(line(pad, H - pad, W, H - pad), line(pad, 4, pad, H - pad));
  const label = document.createElementNS(NS, "text"); label.setAttribute("x", 2); label.setAttribute("y", 12);
  label.textContent = top.toFixed(top < 10 ? 1 : 0); svg.append(label);
  if (points.length < 2) { const t = document.createElementNS(NS, "text"); t.setAttribute("x", W / 2 - 40); t.setAttribute("y", H / 2);
    t.textContent = "collecting samples…"; svg.append(t); return; }
  const t0 = points[0].t, span = Math.max(1, points[points.length - 1].t - t0);
  for (const s of series) {
    const poly = document.createElementNS(NS, "polyline");
    poly.setAttribute("class", s === "all" ? "all" : s === "4xx" ? "c4" : "c5");
    poly.setAttribute("points", points.map((p) => `${(pad + ((p.t - t0) / span) * (W - pad)).toFixed(1)},${(H - pad - (p[s] / top) * (H - pad - 6)).toFixed(1)}`).join(" "));
    svg.append(poly);
  }
}

// ------------------------------------------------------------------ wiring

async function signIn(ev) {
  ev.preventDefault();
  try {
    const session = await api("POST", "/api/session", { access_key: $("access-key").value, secret_key: $("secret-key").value });
    $("secret-key").value = "";
    signedIn(session);
    if (location.hash === "#/buckets") await route(); else location.hash = "#/buckets";  // hashchange routes
  } catch (e) { $("secret-key").value = ""; say(e.status === 401 ? "Sign-in failed: unknown access key or wrong secret" : e.code + ": " + e.message); }
}

async function signOut() {
  try { await api("DELETE", "/api/session"); } catch (e) {}
  state.csrf = null; state.admin = false; $("nav").hidden = true; $("who").hidden = true;
  show("sign-in-view");
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("create-bucket-form").addEventListener("submit", createBucket);
  $("upload-form").addEventListener("submit", upload);
  $("link-copy").addEventListener("click", copyLink);
  $("buckets-next").addEventListener("click", () => { state.bucketPage++; openBuckets(); });
  $("buckets-prev").addEventListener("click", () => { state.bucketPage--; openBuckets(); });
  $("objects-next").addEventListener("click", () => { state.objectPage++; openPrefix(state.where.bucket, state.where.prefix, true); });
  $("objects-prev").addEventListener("click", () => { state.objectPage--; openPrefix(state.where.bucket, state.where.prefix, true); });
  window.addEventListener("hashchange", route);
  route();
});
