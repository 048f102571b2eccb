"""The figures of the instructor's class report (``parcel-course report``): grades, pass rates, run times.

Each function draws one figure with matplotlib and returns the
``matplotlib.figure.Figure``.  No notebook shows them: they live in the
instructor's package, beside :mod:`parcel_course.report`.
"""
from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt

__all__ = ["STATUS_COLOURS", "plot_grade_distribution", "plot_pass_rates", "plot_runtimes"]

STATUS_COLOURS = {"graded": "#4c72b0", "error": "#dd8452", "timeout": "#c44e52", "killed": "#8172b3"}


def _status_colour(status):
    return STATUS_COLOURS.get(status, "#7f7f7f")


def plot_grade_distribution(assignments, scores, max_scores, statuses=None, bins=10):
    """Histogram of the scores of each assignment, one panel per assignment.

    Every argument has one entry per submission.  Bars are stacked by grading
    status, so that a submission that scored 0 because its notebook crashed
    reads differently from one that ran and failed every test.

    Parameters
    ----------
    assignments : sequence of str
    scores, max_scores : sequence of float
        Points obtained and points possible.
    statuses : sequence of str, optional
        ``graded``, ``error``, ``timeout`` or ``killed``; default all ``graded``.
    bins : int
        Bins over ``[0, max score]``, used when scores are not whole points
        (whole points get one bar per point, up to 40 points).

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> fig = plot_grade_distribution(["a1", "a1", "a2"], [3, 5, 1], [5, 5, 2], ["graded", "graded", "error"])
    >>> len(fig.axes)
    2
    """
    assignments = [str(a) for a in assignments]
    scores = np.asarray(scores, dtype=float)
    max_scores = np.asarray(max_scores, dtype=float)
    statuses = ["graded"] * len(assignments) if statuses is None else [str(s) for s in statuses]
    if not (len(assignments) == len(scores) == len(max_scores) == len(statuses)):
        raise ValueError("`assignments`, `scores`, `max_scores` and `statuses` should have one entry per "
                         f"submission each; got lengths {len(assignments)}, {len(scores)}, "
                         f"{len(max_scores)} and {len(statuses)}.")
    if not assignments:
        raise ValueError("`assignments` is empty: there is no submission to plot.")
    names = sorted(set(assignments))
    order = [s for s in STATUS_COLOURS if s in statuses] + sorted(set(statuses) - set(STATUS_COLOURS))
    ncols = min(len(names), 2)
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 2.9 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        idx = [i for i, a in enumerate(assignments) if a == name]
        top = float(max(max_scores[idx].max(), scores[idx].max(), 1e-9))
        whole = np.allclose(scores[idx], np.round(scores[idx])) and top <= 40
        edges = np.arange(-0.5, np.ceil(top) + 1.0, 1.0) if whole else np.linspace(0, top, bins + 1)
        data = [scores[[i for i in idx if statuses[i] == s]] for s in order]
        ax.hist(data, bins=edges, stacked=True, color=[_status_colour(s) for s in order],
                label=order, edgecolor="white", linewidth=0.5)
        mean = scores[idx].mean()
        ax.axvline(mean, color="black", linestyle="--", linewidth=1)
        ax.set_title(f"{name}  (n={len(idx)}, mean {mean:.3g}/{top:g})", fontsize=9)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel("score (points)")
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    axes[0, 0].set_ylabel("submissions")
    if len(order) > 1:
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=len(order), fontsize=8, frameon=False)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / (2.9 * nrows)))
    else:
        fig.tight_layout()
    return fig


def plot_pass_rates(labels, pass_rates, counts=None, max_bars=40):
    """Horizontal bars of the share of the class that passed each question, worst first.

    Parameters
    ----------
    labels : sequence of str
        One per question, e.g. ``"01_convolution / test_pad"``.
    pass_rates : sequence of float
        In [0, 1].
    counts : sequence of (int, int), optional
        (passed, submissions) per question, written at the end of each bar.
    max_bars : int
        Show only the worst ``max_bars`` questions.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> fig = plot_pass_rates(["q1", "q2"], [1.0, 0.25], counts=[(4, 4), (1, 4)])
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['q2', 'q1']
    """
    labels = [str(l) for l in labels]
    rates = np.asarray(pass_rates, dtype=float)
    if len(labels) != len(rates):
        raise ValueError(f"`labels` ({len(labels)}) and `pass_rates` ({len(rates)}) should have the same length.")
    if not labels:
        raise ValueError("`labels` is empty: there is no question to plot.")
    if np.any((rates < 0) | (rates > 1)):
        raise ValueError("`pass_rates` should be fractions in [0, 1].")
    if counts is not None and len(counts) != len(labels):
        raise ValueError(f"`counts` should have one (passed, total) pair per label ({len(labels)}).")
    order = np.argsort(rates, kind="stable")[:max_bars]
    fig, ax = plt.subplots(figsize=(7.5, 0.8 + 0.32 * len(order)))
    y = np.arange(len(order))[::-1]
    colours = plt.cm.RdYlGn(0.1 + 0.8 * rates[order])
    ax.barh(y, rates[order] * 100, color=colours, edgecolor="grey", linewidth=0.5)
    ax.set_yticks(y, [labels[i] for i in order], fontsize=8)
    for yi, i in zip(y, order):
        text = f"{rates[i] * 100:.0f}%"
        if counts is not None:
            text += f"  ({counts[i][0]}/{counts[i][1]})"
        ax.text(min(rates[i] * 100 + 1, 101), yi, text, va="center", fontsize=7.5)
    ax.set_xlim(0, 118)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel("students with full marks on the question (%)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_ylim(-0.7, len(order) - 0.3)
    fig.tight_layout()
    return fig


def plot_runtimes(assignments, seconds, statuses=None, execution_seconds=None, limit=None):
    """Grading time of every submission, one row of dots per assignment.

    Parameters
    ----------
    assignments : sequence of str
    seconds : sequence of float
        Wall time of each submission's grading (one dot each).
    statuses : sequence of str, optional
        Colours the dots (see ``STATUS_COLOURS``).
    execution_seconds : sequence of float, optional
        Time nbgrader ran the notebook: drawn as a small grey tick, so the gap
        to the dot is the grader's overhead.
    limit : float, optional
        A time limit to draw as a vertical line.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> fig = plot_runtimes(["a1", "a1", "a2"], [12.0, 30.5, 8.0], ["graded", "timeout", "graded"])
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['a1', 'a2']
    """
    assignments = [str(a) for a in assignments]
    seconds = np.asarray(seconds, dtype=float)
    statuses = ["graded"] * len(assignments) if statuses is None else [str(s) for s in statuses]
    if not (len(assignments) == len(seconds) == len(statuses)):
        raise ValueError("`assignments`, `seconds` and `statuses` should have one entry per submission each; "
                         f"got lengths {len(assignments)}, {len(seconds)} and {len(statuses)}.")
    if not assignments:
        raise ValueError("`assignments` is empty: there is no submission to plot.")
    if execution_seconds is not None and len(execution_seconds) != len(seconds):
        raise ValueError("`execution_seconds` should have one entry per submission, like `seconds`.")
    names = sorted(set(assignments))
    row = {n: len(names) - 1 - i for i, n in enumerate(names)}
    rng = np.random.default_rng(0)          # vertical jitter only, fixed
    jitter = rng.uniform(-0.18, 0.18, len(seconds))
    y = np.array([row[a] for a in assignments]) + jitter
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.6 * len(names)))
    if execution_seconds is not None:
        ax.scatter(np.asarray(execution_seconds, dtype=float), y, marker="|", s=60, color="grey",
                   linewidth=1, label="notebook execution")
    present = [s for s in STATUS_COLOURS if s in statuses] + sorted(set(statuses) - set(STATUS_COLOURS))
    for s in present:                   # graded first, so that the few problems are drawn on top
        m = np.array([st == s for st in statuses])
        ax.scatter(seconds[m], y[m], s=28, color=_status_colour(s), edgecolor="black", linewidth=0.4,
                   label=s, zorder=3)
    if limit is not None:
        ax.axvline(limit, color="#c44e52", linestyle=":", linewidth=1)
    ax.set_yticks([row[n] for n in names], names)
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.set_xlim(left=0)
    ax.set_xlabel("grading wall time per submission (s)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=5)
    fig.tight_layout()
    return fig
