# Offline stand-in for ansible-test's get-pip bootstrap (the real one is downloaded from a host
# that is unreachable here): pip from Python's own ensurepip, then the pip install ansible-test
# asked for, without get-pip's own --no-setuptools/--no-wheel flags.
import ensurepip
import subprocess
import sys

ensurepip.bootstrap(upgrade=True)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
