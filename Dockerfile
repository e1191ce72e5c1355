# dual-nova images, built from one Dockerfile with make (the same Makefile as `make`):
#
#   docker build -t dual-nova .                   nova-fcgi, nova-worker, novactl, bedrock-sim
#   docker build --target web -t dual-nova-web .  nginx and the chat page
#
# (docker-compose.yml builds both.) Stages: "build" compiles on debian:12 with the -dev
# packages and builds the local knowledge-base index; "web" is nginx with static/ and
# nginx/compose.conf; "runtime" (the default, last) holds only the runtime libraries, the four
# programs, config/, static/, kb/ and the index. Nothing is downloaded when a container starts:
# a container is ready as soon as its program is (nova-fcgi and nova-worker: milliseconds).
# Programs run as the unprivileged user nova (uid 10001).

FROM debian:12 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config \
      libcurl4-openssl-dev libssl-dev libjson-c-dev zlib1g-dev libhiredis-dev libfcgi-dev \
      libsqlite3-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the four programs are made of: a change to the page or the docs rebuilds nothing.
COPY Makefile ./
COPY common common
COPY fcgi-app fcgi-app
COPY workers workers
COPY tools tools
COPY tests/bedrock-sim tests/bedrock-sim
COPY tests/lib tests/lib
RUN make -j"$(nproc)" build/release/bin/nova-fcgi build/release/bin/nova-worker \
      build/release/bin/novactl build/release/bin/bedrock-sim
# The local index of kb/sample, made now so that no container has to make it at start.
COPY kb kb
RUN mkdir -p /out && build/release/bin/novactl kb import kb/sample --db /out/kb.sqlite

FROM debian:12-slim AS web
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx curl \
 && rm -rf /var/lib/apt/lists/*
COPY static /srv/nova/static
COPY nginx/compose.conf /etc/nginx/nova.conf
EXPOSE 8080
# SIGQUIT is nginx's graceful stop: open answers finish streaming.
STOPSIGNAL SIGQUIT
CMD ["nginx", "-c", "/etc/nginx/nova.conf", "-g", "daemon off;"]

FROM debian:12-slim AS runtime
# The libraries the programs link (objdump -p ... NEEDED), cgi-fcgi for nova-fcgi's health
# check (deploy/fcgi-alive), and the CA certificates Bedrock's TLS needs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libcurl4 libssl3 libjson-c5 \
      zlib1g libhiredis0.14 libsqlite3-0 libfcgi0ldbl libfcgi-bin \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /opt/nova --no-create-home \
      --shell /usr/sbin/nologin nova \
 && install -d -o nova -g nova -m 0755 /run/nova /var/lib/nova
WORKDIR /opt/nova
COPY --from=build /src/build/release/bin/nova-fcgi /src/build/release/bin/nova-worker \
     /src/build/release/bin/novactl /src/build/release/bin/bedrock-sim /opt/nova/bin/
COPY deploy/fcgi-alive /opt/nova/bin/
COPY config config
COPY static static
COPY kb kb
# The index's folder is nova's: SQLite's WAL mode makes readers create the -shm file beside it.
COPY --from=build --chown=nova:nova /out/kb.sqlite /var/lib/nova/kb.sqlite
ENV PATH=/opt/nova/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NOVA_RUN_DIR=/run/nova \
    NOVA_FCGI_SOCKET=/run/nova/nova-fcgi.sock \
    NOVA_KB_DB=/var/lib/nova/kb.sqlite \
    NOVA_KB_DIR=/opt/nova/kb/sample \
    NOVA_GLOSSARY_FILE=/opt/nova/config/game_glossary.json \
    NOVA_SYNONYMS_FILE=/opt/nova/config/synonyms.tsv \
    NOVA_PROMPTS_DIR=/opt/nova/config/prompts \
    NOVA_PRICES_FILE=/opt/nova/config/prices.json
USER nova
# The same image runs every program: docker-compose.yml and the ECS task definitions set the
# command (nova-worker --queue micro, bedrock-sim ..., novactl ...).
CMD ["nova-fcgi"]
