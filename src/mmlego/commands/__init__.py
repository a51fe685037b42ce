"""CLI subcommands: each module defines add_parser(subparsers) and is discovered by mmlego.cli."""
