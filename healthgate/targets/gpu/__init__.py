"""NVIDIA GPUs of the local host, through ``nvidia-smi``'s CSV query (memory used/total and utilisation).

``nvidia-smi`` is run as a child process with the read timeout; a host without it, or without a GPU, is reported
as absent so the checks skip instead of failing. Any user that may run ``nvidia-smi`` can run these checks.
"""
