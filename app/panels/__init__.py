"""The workbench's views. Each panel wraps the :class:`app.workbench.Workbench`, redraws from
the store on its signals, and can export what it shows as a figure (and tables as CSV)."""
