"""Authentication and body integrity: who sent the request, and is the body what they sent.

``authenticate`` (verify.py) runs first on every request; ``BodyReader`` (body.py) then
wraps the body stream for handlers that read one. Both are framework-free.
"""

from __future__ import annotations

from gateway.auth.body import BodyReader
from gateway.auth.sigv4 import ChunkSigning
from gateway.auth.verify import AuthResult, SignedRequest, authenticate

__all__ = ["AuthResult", "BodyReader", "ChunkSigning", "SignedRequest", "authenticate"]
