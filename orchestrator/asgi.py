"""The ASGI entry point Daphne serves: Django for HTTP, Channels for WebSockets."""

from __future__ import annotations

import gc
import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
serving = not settings.configured
if serving:
    # Loaded by the server that starts this process (Daphne), not imported by an already running
    # Django (a test, a shell): this process serves the web, so its database connections come
    # from a bounded pool (WEB_DB_POOL_SIZE in settings.py), not one kept per request thread.
    os.environ["FLOWBUILDER_PROCESS"] = "web"
# Set up Django (apps, settings) before anything below imports models through the consumers.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from orchestrator import lazy_autobahn_logs  # noqa: E402
from orchestrator.mcp_endpoint import McpEndpoint, is_mcp_path  # noqa: E402
from orchestrator.routing import websocket_urlpatterns  # noqa: E402
from orchestrator.socket_auth import SharedAuthMiddlewareStack  # noqa: E402
from orchestrator.warm_up import warm_up  # noqa: E402

mcp_endpoint = McpEndpoint()


async def http_app(scope, receive, send):  # type: ignore[no-untyped-def]
    """Django, except ``/mcp/…``: a workspace's workflows served over MCP (the SDK's server)."""
    if is_mcp_path(scope["path"]):
        await mcp_endpoint(scope, receive, send)
    else:
        await django_asgi_app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http_app,
        # The Origin check stops other sites from opening a socket with our session cookie;
        # clients must send an Origin header that matches ALLOWED_HOSTS.
        "websocket": AllowedHostsOriginValidator(
            SharedAuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

if serving:
    lazy_autobahn_logs.install()
    warm_up()
    # Everything imported so far lives as long as the process: kept out of the collector's full
    # passes, which otherwise walk these ~220,000 objects again each time. A full pass over them
    # and 100,000 young objects took 0.32 s at load 8, 0.03 s frozen; three such passes came
    # while 1,000 sockets opened at once (bench/fanout.py prints the collector's time).
    gc.collect()
    gc.freeze()
    # And the young generation collected after 7,000 new objects, not 700: a socket opening makes
    # a few hundred that die young (scopes, tasks, futures), which at 700 were promoted to the
    # older generations and brought full passes over every open socket's objects. 1,000 sockets
    # opening at once: collector 0.44-0.87 s and no full pass, against 1.16-2.39 s with 0.8-1.7 s
    # in full passes (bench/fanout.py, load 8-15).
    gc.set_threshold(7000, 10, 10)
