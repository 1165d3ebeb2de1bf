"""``kiln world ...`` subcommands: ``kiln world recover ROOT --namespace NS``."""
from __future__ import annotations

import argparse


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("world", help="world store tools (recover)")
    sub = parser.add_subparsers(dest="world_command", required=True)
    recover = sub.add_parser("recover", help="roll committed ticks forward and remove orphans (specs/world.md §5.5)",
                             description="Runs crash recovery for every world of a namespace whose writer lock is "
                                         "free: committed ticks are published, uncommitted staged files removed.")
    recover.add_argument("root", help="the store root directory")
    recover.add_argument("--namespace", default="default", help="namespace (default: default)")
    recover.set_defaults(handler=_recover)


def _recover(args: argparse.Namespace) -> int:
    import kiln.world as kw

    report = kw.recover(args.root, args.namespace)
    print(f"examined {report.worlds_examined} world(s) in {args.root}/{args.namespace}: "
          f"{report.ticks_rolled_forward} tick(s) rolled forward, {report.orphans_removed} orphan file(s) removed")
    for key in report.skipped_locked:
        print(f"  skipped {key}: its writer is alive (lock held)")
    return 0
