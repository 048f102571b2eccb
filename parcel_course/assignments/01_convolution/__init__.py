"""01_convolution: its checks (``checks.py``) and reference answers (``reference.py``); its notebooks: ``source/01_convolution/``."""
