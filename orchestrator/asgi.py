"""The ASGI entry point Daphne serves: Django for HTTP, Channels for WebSockets."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
if not settings.configured:
    # Loaded by the server that starts this process (Daphne), not imported by an already running
    # Django (a test, a shell): this process serves the web, so its database connections come
    # from a bounded pool (WEB_DB_POOL_SIZE in settings.py), not one kept per request thread.
    os.environ["FLOWBUILDER_PROCESS"] = "web"
# Set up Django (apps, settings) before anything below imports models through the consumers.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from orchestrator.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The Origin check stops other sites from opening a socket with our session cookie;
        # clients must send an Origin header that matches ALLOWED_HOSTS.
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
