"""04_cnn: its checks (``checks.py``) and reference answers (``reference.py``); its notebooks: ``source/04_cnn/``."""
