# Setup. On Google Colab this installs the course package, parcel_utils, from the wheel
# you uploaded in the Files panel (the README says how); anywhere else it does nothing.
import os
import sys

if "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ:
    import glob
    import subprocess
    _wheels = (glob.glob("parcel_utils-*.whl") + glob.glob("/content/parcel_utils-*.whl")
               + glob.glob("/content/*/parcel_utils-*.whl"))
    if _wheels:
        _wheel = os.path.abspath(max(_wheels, key=os.path.getmtime))   # the one uploaded last
        _pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", _wheel],
                              capture_output=True, text=True)
        if _pip.returncode != 0:
            raise RuntimeError(f"pip could not install {_wheel}:\n{_pip.stdout}{_pip.stderr}")
        print(f"parcel_utils is installed (from {_wheel}).")
    else:
        print("Upload parcel_utils-<version>-py3-none-any.whl (it came with this notebook) "
              "in Colab's Files panel, then run this cell again.")
