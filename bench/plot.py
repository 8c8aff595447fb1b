"""The timeline of one crash failover per group: the cluster's phases, each member's
start and each service's first answer on one time axis."""
import statistics

from . import report

COLORS = {"lost": "#444444", "fencing": "#d62728", "start": "#1f77b4", "answer": "#2ca02c"}


def median_trial(trials):
    done = [t for t in trials if t["all_answering"] is not None]
    if not done:
        return None
    middle = statistics.median_low([t["all_answering"] for t in done])
    return next(t for t in done if t["all_answering"] == middle)


def timeline(path, results, group_of):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [(side, median_trial(results["groups"].get(side, {}).get("crash") or [])) for side in report.SIDES]
    shown = [(side, trial) for side, trial in shown if trial]
    if not shown:
        return None
    end = max(last_event(trial) for _, trial in shown) + 1
    figure, axes = plt.subplots(len(shown), 1, figsize=(11, 3.2 * len(shown) + 0.8), sharex=True, squeeze=False)
    for axis, (side, trial) in zip(axes[:, 0], shown):
        draw(axis, side, trial, group_of(side), end)
    axes[-1, 0].set_xlabel("seconds after the crash of the active node")
    figure.suptitle("Crash failover, one trial per group (the median one): phases, starts, first answers")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def last_event(trial):
    times = [v for v in trial["answers"].values() if v is not None]
    times += [start["done"] for start in trial["starts"].values() if start["done"] is not None]
    return max(times)


def draw(axis, side, trial, group, end):
    rows = ["cluster"]
    for agent, members in report.phases(group):
        rows.append(agent if side == "ours" else "%s: %s" % (agent, short(members)))
    rows += ["answer: %s" % service for service in trial["answers"]]
    y = {label: len(rows) - i for i, label in enumerate(rows)}
    marks = trial["marks"]
    if marks.get("lost") is not None:
        axis.plot([marks["lost"]], [y["cluster"]], marker="x", color=COLORS["lost"], markersize=9)
        axis.annotate("peer lost", (marks["lost"], y["cluster"]), xytext=(3, 5), textcoords="offset points",
                      fontsize=8)
    if marks.get("fence_requested") is not None and marks.get("fenced") is not None:
        axis.barh(y["cluster"], marks["fenced"] - marks["fence_requested"], left=marks["fence_requested"],
                  height=0.5, color=COLORS["fencing"])
        axis.annotate("fencing", (marks["fenced"], y["cluster"]), xytext=(3, 5), textcoords="offset points",
                      fontsize=8)
    for (_agent, members), label in zip(report.phases(group), rows[1:]):
        begun, done = report.span(trial["starts"], members)
        if begun is not None and done is not None:
            axis.barh(y[label], done - begun, left=begun, height=0.5, color=COLORS["start"])
            axis.annotate("%.1f s" % (done - begun), (done, y[label]), xytext=(3, -3), textcoords="offset points",
                          fontsize=7)
    for service, seconds in trial["answers"].items():
        label = "answer: %s" % service
        if seconds is not None:
            axis.plot([0, seconds], [y[label]] * 2, color=COLORS["answer"], linewidth=0.8, linestyle=":")
            axis.plot([seconds], [y[label]], marker="D", color=COLORS["answer"])
    if trial["all_answering"] is not None:
        axis.axvline(trial["all_answering"], color="black", linestyle="--", linewidth=0.8)
        axis.annotate("all answer: %.1f s" % trial["all_answering"], (trial["all_answering"], 0.6),
                      xytext=(3, 0), textcoords="offset points", fontsize=8)
    axis.set_yticks([y[label] for label in rows])
    axis.set_yticklabels(rows, fontsize=8)
    axis.set_xlim(0, end)
    axis.set_ylim(0.3, len(rows) + 0.7)
    axis.grid(axis="x", alpha=0.3)
    axis.set_title("%s (group %s): %s crashed, %s took over" % (side, group.name, trial["crashed"],
                                                               trial["survivor"]), fontsize=10)


def short(members):
    return members[0] if len(members) == 1 else "%d× %s…" % (len(members), members[0].split("-")[0])
