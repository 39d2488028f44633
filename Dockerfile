# The message-server image: built with the .NET SDK, run on the ASP.NET Core runtime as the non-root "app" user.
# Works with the classic builder and with BuildKit (no BuildKit-only syntax), as Amazon Linux's docker may lack buildx.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /source

# Restore from the project files alone first: code changes then reuse the cached package layer. The build is
# ReadyToRun-compiled for this machine's runtime (linux-x64 or linux-arm64) when the packages for that can be
# restored; a package source without them (an offline seed made without --use-current-runtime) gives a portable
# build instead, which starts a little slower and behaves the same.
COPY Directory.Build.props Directory.Packages.props ./
COPY src/MessageServer/MessageServer.csproj src/MessageServer/
RUN if dotnet restore --use-current-runtime src/MessageServer/MessageServer.csproj; then echo ready-to-run >/tmp/build-mode; \
    else echo "The packages for a ReadyToRun build are not available: building portable instead." \
      && dotnet restore -p:PublishReadyToRun=false src/MessageServer/MessageServer.csproj && echo portable >/tmp/build-mode; fi

COPY .editorconfig ./
COPY src/MessageServer/ src/MessageServer/
ARG REVISION=unknown
RUN if [ "$(cat /tmp/build-mode)" = ready-to-run ]; then mode="--use-current-runtime"; \
    else mode="-p:UseCurrentRuntimeIdentifier=false -p:PublishReadyToRun=false"; fi \
 && dotnet publish src/MessageServer/MessageServer.csproj --no-restore $mode -c Release -o /app \
      -p:UseAppHost=false -p:SourceRevisionId=${REVISION} \
 && mkdir /data


FROM mcr.microsoft.com/dotnet/aspnet:10.0
ARG VERSION=
ARG REVISION=unknown
LABEL org.opencontainers.image.title="message-server" \
      org.opencontainers.image.description="Self-hostable message server: topics over HTTP, live Server-Sent Events, PostgreSQL or SQLite" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT"

WORKDIR /app
COPY --from=build /app ./
# SQLite lives in the /data volume when no POSTGRES_HOST is given; owned by the app user so it can write there.
COPY --from=build --chown=1654:1654 /data /data
VOLUME /data

# The base image's ASPNETCORE_HTTP_PORTS would add a second listener on 8080; the app listens on PORT alone.
ENV PORT=5002 \
    SQLITE_PATH=/data/messages.db \
    ASPNETCORE_HTTP_PORTS= \
    APP_VERSION=${VERSION}
EXPOSE 5002
USER $APP_UID

# The app binary probes itself: no curl needed in the image.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["dotnet", "MessageServer.dll", "healthcheck"]
ENTRYPOINT ["dotnet", "MessageServer.dll"]
