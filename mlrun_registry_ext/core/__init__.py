"""The pure core: no network, no mlrun/nuclio/kubernetes/boto3 imports."""
