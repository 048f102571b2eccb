"""03_handcrafted: its checks (``checks.py``) and reference answers (``reference.py``); its notebooks: ``source/03_handcrafted/``."""
