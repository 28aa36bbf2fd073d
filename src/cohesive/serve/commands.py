"""`cohesive serve`: the web page on localhost. FastAPI, uvicorn and the models are imported only
when the command runs, so `cohesive --help` stays fast."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

from cohesive.errors import CohesiveError
from cohesive.serve import MAX_BYTES


def register(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve", help="a local web page showing a text's word senses and its suspected machine-paraphrased passages",
        description="Serve one page (paste or upload a text; views: Senses, Paraphrase check) and its JSON API "
                    "(/api/disambiguate, /api/detect, /api/health; OpenAPI docs at /docs) with the shipped models.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (anything but localhost exposes "
                       "the page to the network)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument("--max-bytes", type=int, default=MAX_BYTES, help="largest text accepted, in bytes (larger: "
                       "HTTP 413)")
    serve.add_argument("--wsd-model", type=Path, help="trained WSD model folder (default: $COHESIVE_WSD_MODEL or "
                       "the shipped model)")
    serve.add_argument("--detector", type=Path, help="trained paraphrase detector folder (default: the shipped one)")
    serve.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> None:
    """Check the options and the port, load both models, then serve until interrupted."""
    if not 1 <= args.port <= 65535:
        raise CohesiveError(f"--port must be between 1 and 65535, got {args.port}")
    if args.max_bytes < 1:
        raise CohesiveError(f"--max-bytes must be at least 1, got {args.max_bytes}")
    check_port_free(args.host, args.port)

    import uvicorn

    from cohesive.serve.app import ServeConfig, create_app

    config = ServeConfig(args.host, args.port, args.max_bytes, args.wsd_model, args.detector)
    app = create_app(config)
    print(f"cohesive serve: http://{config.host}:{config.port}/ (Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning")


def check_port_free(host: str, port: int) -> None:
    """Refuse, before the models load, an address this machine cannot listen on."""
    try:
        socket.create_server((host, port)).close()
    except OSError as exc:
        raise CohesiveError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (choose another --port or "
                            "--host)") from None
