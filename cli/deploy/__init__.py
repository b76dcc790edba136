"""Subcommands that turn trained weights into deployable files and check them: `export`, `quantize`, `build`,
`inspect` and `verify`.

A new command that converts, quantizes, builds or cross-checks a model file belongs here.
"""
