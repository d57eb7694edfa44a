"""The pieces of the ``voiceclone`` command; `voiceclone.cli` is its entry point.

Only `_main` and `_manifest` may be imported without rich installed: the
subcommand modules use it for progress bars and tables.
"""
