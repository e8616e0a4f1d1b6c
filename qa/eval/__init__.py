"""Evaluation: question sets, metrics, the runner that asks them through an ``Assistant``, and
plots.

Depends on ``qa.assistant`` (never the reverse) and on ``qa.answer`` for shared helpers; no
other part of ``qa`` imports it but ``qa.cli``.
"""
