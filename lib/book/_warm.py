"""Imported by the chapter kernels' fork server (:mod:`lib.book.kernels`): it imports every
module a chapter kernel starts with, once, before the kernels are forked from it."""

from lib.book.kernels import preload

preload()
