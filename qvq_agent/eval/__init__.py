"""Evaluation: run a graph (or the raw model) over a benchmark, resumably, and report.

``datasets`` (loaders), ``runner`` (concurrency, resume, faults), ``scoring`` (each dataset's
convention through :func:`qvq_agent.answers.equivalent`), ``report`` (tables, plots, the paired
comparison of two runs). Needs the ``eval`` extra: ``pip install 'qvq-agent[eval]'``.
"""
