from setuptools import setup

# For Beam --setup_file (Dataflow workers build and install interleaf from this).
setup()
