"""A Jupyter kernel for Dex, built on ipykernel's `Kernel` base class.

    python -m dexpy.kernel install [--user] [--prefix P]   register the `dex` kernel
    python -m dexpy.kernel -f CONNECTION_FILE               what Jupyter runs (kernel.json)

`cells.py` evaluates a cell (one or more Dex blocks in one persistent
`toplevel.Session`) into outputs; `kernel.py` turns them into Jupyter messages;
`install.py` writes the kernel spec. ipykernel and jupyter_client come with the
`dexpy[notebook]` extra; nothing else in dexpy imports this package.
"""
