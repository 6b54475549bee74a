"""How GenLab is served to a class: HAProxy in front of N replicas (``deploy.cluster``, ``haproxy.cfg``),
docker compose (``docker-compose.yml``) and Kubernetes (``k8s/``)."""
