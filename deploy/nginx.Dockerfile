# nginx for GenLab's static files (deploy/nginx.conf, mounted by deploy/docker-compose.yml): Debian 12's nginx
# with its brotli_static module, the same packages `.ci/run` installs and the tests run against (the official
# nginx image has no brotli module). It serves files made ahead of time; it compresses nothing itself.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx libnginx-mod-http-brotli-static \
 && rm -rf /var/lib/apt/lists/*
EXPOSE 8081
# SIGQUIT: finish the requests in flight, then exit
STOPSIGNAL SIGQUIT
CMD ["nginx", "-c", "/etc/nginx/genlab.conf", "-g", "daemon off;"]
