"""`optisim proxy`: a validating, recording proxy in front of the real Optimove and
Promotions services (and of the webhooks they send). contracts.py checks exchanges
against optisim's published OpenAPI documents, redact.py keeps secrets out of the
recording, app.py is the proxy (a plain ASGI app over httpx), command.py the click
command."""
