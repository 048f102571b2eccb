"""02_parameters: its checks (``checks.py``) and reference answers (``reference.py``); its notebooks: ``source/02_parameters/``."""
