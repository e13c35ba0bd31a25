"""The course itself: the chapters' runs and text, figures and plots, the ablation,
the image viewer, the papermill reproduction and the HTML report."""
