"""Administration: the ``mqadmin`` command line (the API is :class:`rocketmq_py.AsyncAdmin`)."""
