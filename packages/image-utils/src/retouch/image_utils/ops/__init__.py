"""The operations: pure functions from a request struct (and the image limits) to a response.

Each runs in a worker thread (they decode, compute with numpy/OpenCV, and encode); errors in
the input are raised as 4xx problems naming the field.
"""
