# %% [markdown]
# # Chapter 1 notebook: why divide by $\sqrt{d_k}$
#
# Test notebook.

# %%
from book_code.attention.scaling import scaling_sweep
from book_code.figures import BookFigure, new_figure

results = scaling_sweep()
fig, ax = new_figure()
for scaled in (False, True):
    rows = [r for r in results if r.scaled == scaled]
    ax.plot([r.d_k for r in rows], [r.max_weight for r in rows], marker="o", label=f"scaled={scaled}")
ax.set_xscale("log", base=2)
ax.legend()
BookFigure(fig, "ch02-x", alt="Mean largest softmax weight against d_k.", caption="Figure 1.1: saturation.")
