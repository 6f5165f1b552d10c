"""Imported by the chapter kernels' fork server (:mod:`lib.book.kernels`): it imports every
module a chapter kernel starts with, once, before the kernels are forked from it."""

import gc

from lib.book.kernels import preload

preload()
# The preloaded modules' objects live as long as any kernel: frozen, the garbage collector of
# a kernel no longer walks them (a full collection, which IPython also runs when the kernel
# exits, took 0.12-0.14 s over them), and their memory pages stay shared with the server.
gc.freeze()
