"""The ground floor: the only code that speaks to a Kubernetes API server.

``config`` (kubeconfig: files, merge, contexts), ``auth`` (credentials at
request time: exec plugins, token files, refresh), ``client`` (request, retry, list,
apply — dicts in, dicts out), ``discovery`` (what a cluster serves, listed
fast), ``order`` (the apply order table), ``objects`` (the one identity type,
:class:`~kube.objects.ObjectRef`, and helpers over object dicts) and
``errors``. ``migration``, ``components``, ``cutover``, ``doctor`` and the
sandbox all build on it; it imports none of them.
"""
