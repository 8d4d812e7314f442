# A NixOS module for a Trustix node: `services.trustix`. docs/guides/running.md explains it.
#
#   imports = [ /path/to/trustix/docs/deploy/nixos-module.nix ];
#   services.trustix = {
#     enable = true;
#     package = trustix;                      # see below: Trustix is not in nixpkgs
#     openFirewall = true;                    # TCP 8566, for peers
#     settings = {
#       upstreams = [ "https://cache.nixos.org" ];
#       vote = [ "threshold 3/4" ];
#       follow = [ { log = "mercury:Kx3Nlff0M+XjD1JjbWrWANVZCjyJ/fyQjF1hWI8gu/g="; name = "mercury"; } ];
#     };
#   };
#
# `settings` is the config file (docs/CLI.md, "The config file"), option for option, checked here with the
# same bounds as Trustix checks them; an option left null is left out of the file and Trustix's default
# applies. The file is /etc/trustix/config.json; a change restarts the node.
#
# Letting Nix use the node takes two deployments, because the node's cache key is created on its first
# start and cannot be known when the system is evaluated:
#   1. deploy with `enable = true`, then read the key: `sudo cat /var/lib/trustix/cache.public`;
#   2. set `cachePublicKey = "<that key>"` and `useAsSubstituter = true`, and deploy again.
#
# The package: Trustix is not in nixpkgs. Any derivation with bin/trustix (package.json's "bin") will do, for example (untested: nixpkgs is not available where this was written).
# Its build phase runs `npm run build`, which compiles dist/; package.json's "files" ship it, and the CLI
# runs it as long as the sources have the content it was built from (compared by SHA-256 where the Nix
# store reset their mtimes). `npm pack` and an install from the tarball were checked to run compiled.
#   trustix = pkgs.buildNpmPackage {
#     pname = "trustix";
#     version = "0.1.0";
#     src = /path/to/trustix;       # a checkout
#     npmDepsHash = "sha256-…";     # `prefetch-npm-deps package-lock.json` prints it
#   };
{
  config,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib) mkOption mkEnableOption mkIf types;

  cfg = config.services.trustix;
  settingsFormat = pkgs.formats.json { };

  # An option of the config file: null (the default) leaves it out, and Trustix's own default applies.
  fileOption =
    type: description:
    mkOption {
      type = types.nullOr type;
      default = null;
      inherit description;
    };

  multiaddr = types.strMatching "/.+";
  peerMultiaddr = types.strMatching "/.+/p2p/[^/]+";
  httpAddress = types.strMatching "([[][0-9a-fA-F:.]+[]]|[A-Za-z0-9.-]+):[0-9]{1,5}";
  cacheUrl = types.strMatching "(file|http|https)://.+";
  weight = types.addCheck types.number (w: w > 0 && w <= 1000000) // {
    description = "number in (0, 1000000]";
  };

  followedLog = types.submodule {
    options = {
      log = mkOption {
        type = types.str;
        example = "mercury:Kx3Nlff0M+XjD1JjbWrWANVZCjyJ/fyQjF1hWI8gu/g=";
        description = "The log's vkey or Nix public key (`NAME:BASE64`), as its builder publishes it.";
      };
      name = fileOption types.str "Its name in the vote (`trust NAME`) and in `trustix decide`. Default: the key's name; unique among followed logs.";
      weight = fileOption weight "Its weight in `threshold` fractions. Default 1.";
      mirrors = fileOption (types.listOf (types.strMatching "https?://[^?#]+")) "Static HTTP mirrors of the log (base URLs serving `logs/<log ID>/...`): always among its sync sources, after the peers. Default none.";
      witnesses = fileOption (types.listOf types.str) "Witness vkeys (`NAME+KEYID+BASE64`, as `trustix init` prints them): with witnessQuorum, the log moves only to checkpoints that many of them cosigned. Default none.";
      witnessQuorum = fileOption (types.ints.between 1 15) "How many of `witnesses` must have cosigned a checkpoint before the log moves to it. Needs `witnesses`.";
      light = fileOption types.bool "Follow it light: no copy, entries looked up with proofs from peers that hold the log (docs/SECURITY.md, \"Light logs\"). Default: the mode it has, full for a new log.";
    };
  };

  settingsType = types.submodule {
    options = {
      http = fileOption httpAddress ''
        HOST:PORT of the HTTP server: the logs, the substituter, the JSON API and the dashboard.
        Default "127.0.0.1:8565". The firewall is not opened for it.
      '';
      httpHosts = fileOption (types.listOf types.str) ''
        Host names the HTTP server answers for besides localhost, IP literals and the `http` host (a request
        naming another host is answered 421). Default none.
      '';
      listen = fileOption (types.listOf multiaddr) ''
        libp2p listen multiaddrs. Default [ "/ip4/0.0.0.0/tcp/8566" "/ip6/::/tcp/8566" ].
      '';
      announce = fileOption (types.listOf multiaddr) ''
        Multiaddrs to announce instead of the ones the node sees (a public address behind NAT). Default none.
      '';
      bootstrap = fileOption (types.listOf peerMultiaddr) ''
        Bootstrap peers, multiaddrs ending in /p2p/<PeerId>. Default: the built-in list.
      '';
      webrtc = fileOption types.bool "Hole punching with WebRTC: listen on /webrtc and open a direct connection to a peer first reached through a relay. Default: on when `announce` is not set and there is a STUN server (`stun`, or its default).";
      stun = fileOption (types.listOf (types.strMatching "stun:.+")) ''
        STUN servers (`stun:HOST[:PORT]`) WebRTC asks for the node's address as seen from outside its NAT.
        Default: the `bootstrap` peers named by IP address, at their TCP port (Trustix bootstrap nodes
        answer STUN there), plus connected Trustix relays; none without a configured bootstrap list.
      '';
      stunPort = fileOption (types.either types.bool types.port) ''
        With `announce` (a public node): answer STUN on UDP, true at each TCP listen port, or at this port;
        false: not at all. Open that UDP port in the firewall. Default true.
      '';
      maxConnections = fileOption (types.ints.between 1 100000) "libp2p connections kept before pruning. Default 100.";
      witness = fileOption types.bool "Cosign the checkpoints of the logs this node follows, once verified, and gossip them (the witness key is in the data directory). Default false.";
      maxConnectionsPerIp = fileOption (types.ints.between 1 100000) "Open connections from one IP address; more inbound ones are refused. Default 8.";
      maxConnectionsPerSubnet = fileOption (types.ints.between 1 100000) "Open connections from one IP subnet (/24, /48); more inbound ones are refused. Default 32.";
      follow = mkOption {
        type = types.listOf followedLog;
        default = [ ];
        description = ''
          Logs followed at every start, as `trustix follow` would (logs followed with the command stay
          followed too). A log removed from this list stays followed until `trustix unfollow`.
        '';
      };
      vote = fileOption (types.nonEmptyListOf types.str) ''
        Deciders in shorthand, tried in order until one decides: "threshold M/N",
        "threshold count=C fraction=F", "majority", "majority count=C", "trust NAME", "script PATH [timeout=MS]".
        Default [ "majority" ] (at least 2 logs, more than half of the weight).
        A script path is relative to the config file, which is in the Nix store: give an absolute path,
        e.g. "script ''${./decide.mjs}".
      '';
      upstreams = fileOption (types.listOf cacheUrl) ''
        Binary caches (file://, http://, https://) the substituter takes narinfos and NARs from. Default none:
        the substituter then serves nothing.
      '';
      spool = mkOption {
        type = types.enum [ spoolDir ];
        default = spoolDir;
        readOnly = true;
        description = ''
          The spool the post-build hook writes to: fixed by this module, a state directory of the node's in
          /var/lib that the hook in the Nix store names (publishBuilds).
        '';
      };
      substituter = mkOption {
        default = { };
        description = "The local substituter.";
        type = types.submodule {
          options.priority = fileOption (types.ints.between 0 1000000) "nix-cache-info Priority (lower is preferred). Default 30.";
        };
      };
      batch = mkOption {
        default = { };
        description = "The sequencer of the node's own log.";
        type = types.submodule {
          options = {
            intervalMs = fileOption (types.ints.between 0 60000) "Longest a submission waits for its batch, in ms. Default 500.";
            maxSubmissions = fileOption (types.ints.between 1 1000000) "Largest batch. Default 10000.";
          };
        };
      };
      sync = mkOption {
        default = { };
        description = "Following logs.";
        type = types.submodule {
          options = {
            maxConcurrentSyncs = fileOption (types.ints.between 1 64) "Logs synced at once. Default 2.";
            retryDelayMs = fileOption (types.ints.between 10 3600000) "First retry delay after a failed sync, in ms. Default 5000.";
            maxRetryDelayMs = fileOption (types.ints.between 10 86400000) "Longest retry delay, in ms. Default 600000.";
            maxTreeSize = fileOption types.ints.positive "Largest tree size of a followed log synced; beyond it the log fails. Default 2^32.";
            maxGrowth = fileOption types.ints.positive "Most new entries of a followed log per sync; beyond it the log fails. Default 2^26.";
            sliceMs = fileOption (types.ints.between 100 86400000) "Time slice of a sync while another log waits, in ms. Default 60000.";
            smallSyncEntries = fileOption (types.ints.between 0 1000000) "Lag of a log that may sync in the extra slot. Default 4096.";
            syncJitterMs = fileOption (types.ints.between 0 60000) "Longest random start delay of a sync that gossip brought, in ms. Default 3000.";
            maxEntryBytes = fileOption (types.ints.between 256 65535) "Largest entry of a followed log, in bytes; beyond it the log fails. Default 32768.";
            maxReferences = fileOption types.ints.unsigned "Most references of one entry of a followed log; beyond it the log fails. Default 1024.";
            maxLogBytes = fileOption types.ints.positive "Most bytes of entry bundles stored per followed log; beyond it the log fails. Default 16 GiB.";
            windowBytes = fileOption types.ints.positive "Bytes of verified bundles a sync holds in memory. Default 64 MiB.";
            minFreeBytes = fileOption types.ints.unsigned "Low-disk watermark of the data directory's file system: below it syncs pause. Default 1 GiB.";
            minBytesPerSecond = fileOption types.ints.unsigned "Minimum throughput of a sync source, in bytes/s; slower ones are dropped while others are left. Default 16384.";
          };
        };
      };
      monitor = mkOption {
        default = { };
        description = "Gossip about logs nobody here follows.";
        type = types.submodule {
          options = {
            maxLogs = fileOption types.ints.positive "Most logs tracked. Default 100000.";
            maxMemoryBytes = fileOption types.ints.unsigned "Bytes of records of unfollowed logs kept in memory. Default 16 MiB.";
            maxPending = fileOption types.ints.positive "Gossip messages waiting for validation; beyond, ignored. Default 256.";
            budgetPerSecond = fileOption types.ints.unsigned "Accepted news about unfollowed logs per second, overall. Default 10.";
            budgetBurst = fileOption types.ints.positive "Burst of the overall budget. Default 100.";
            peerBudgetPerSecond = fileOption types.ints.unsigned "Accepted news about unfollowed logs per second, per peer. Default 2.";
            peerBudgetBurst = fileOption types.ints.positive "Burst of the per-peer budget. Default 20.";
          };
        };
      };
      tiles = mkOption {
        default = { };
        description = "The tile exchange's budgets.";
        type = types.submodule {
          options = {
            maxRequestsPerPeer = fileOption types.ints.positive "Requests per second per peer. Default 1000.";
            maxRequestsPerSubnet = fileOption types.ints.positive "Requests per second per IP subnet (/24, /48). Default 4000.";
            maxBytesInFlight = fileOption types.ints.positive "Bytes of answers being written at once. Default 64 MiB.";
            maxBytesInFlightPerPeer = fileOption types.ints.positive "Bytes of answers being written at once to one peer. Default 8 MiB.";
            uploadSlots = fileOption types.ints.positive "Peers served one log's entry bundles at once; the others are told busy. Default 4.";
            fanout = fileOption types.ints.positive "New peers served the node's own log's full entry bundles within 10 s; the next are referred to them. Default 3.";
          };
        };
      };
      decisions = mkOption {
        default = { };
        description = "The vote's decision cache.";
        type = types.submodule {
          options.maxCachedBytes = fileOption types.ints.unsigned "Estimated bytes of cached decisions. Default 32 MiB.";
        };
      };
    };
  };

  # The config file: options left null are left out, and so are groups left empty.
  prune =
    value:
    if builtins.isAttrs value then
      lib.filterAttrs (_: v: v != null && v != { }) (builtins.mapAttrs (_: prune) value)
    else if builtins.isList value then
      map prune value
    else
      value;
  configFile = settingsFormat.generate "trustix-config.json" (prune cfg.settings);

  # Where Nix reaches the substituter: the HTTP address, with a wildcard host asked on the loopback.
  http = builtins.match "([[][0-9a-fA-F:.]+[]]|[A-Za-z0-9.-]+):([0-9]+)" (
    if cfg.settings.http != null then cfg.settings.http else "127.0.0.1:8565"
  );
  httpHost = builtins.elemAt http 0;
  localHost =
    if httpHost == "0.0.0.0" then
      "127.0.0.1"
    else if httpHost == "[::]" then
      "[::1]"
    else
      httpHost;
  substituterUrl = "http://${localHost}:${builtins.elemAt http 1}";

  # The post-build hook's spool: a state directory of the node's in /var/lib, which only root can write
  # (docs/guides/builder.md, "The spool under the Nix daemon").
  spoolDir = "/var/lib/trustix-spool";
  # The hook, exactly as `trustix init --spool /var/lib/trustix-spool` writes it (node/own-log/post-build-hook.ts;
  # test/spool.test.ts compares the two).
  postBuildHook = pkgs.writeScript "trustix-post-build-hook" ''
    #!/bin/sh
    # Trustix post-build hook, written by `trustix init` and `trustix start` (docs/guides/builder.md).
    # Nix runs it after every build and waits for it: it only leaves a note of the build (DRV_PATH and
    # OUT_PATHS) in the node's spool and exits 0 whatever happens, so that no build fails or waits because
    # of Trustix. The node publishes what the spool holds whenever it runs.
    spool='/var/lib/trustix-spool'
    tmp='/var/lib/trustix-spool.tmp'
    warn() { printf 'trustix post-build hook: %s\n' "$1" >&2; exit 0; }
    case "$DRV_PATH$OUT_PATHS" in
    ''') warn 'neither DRV_PATH nor OUT_PATHS is set (run me from Nix)' ;;
    *'
    '*) warn 'DRV_PATH or OUT_PATHS holds a newline: not recorded' ;;
    esac
    umask 022
    name=''${DRV_PATH##*/}
    name=''${name:-build}.$$
    [ -d "$tmp" ] || mkdir -m 700 -- "$tmp" 2>/dev/null
    if printf 'trustix-spool 1\nDRV_PATH=%s\nOUT_PATHS=%s\n' "$DRV_PATH" "$OUT_PATHS" 2>/dev/null >"$tmp/$name" &&
      mv -f -- "$tmp/$name" "$spool/" 2>/dev/null; then
      exit 0
    fi
    rm -f -- "$tmp/$name" 2>/dev/null
    warn "cannot write to the spool $spool: this build is not published (DRV_PATH=$DRV_PATH trustix publish does it by hand)"
  '';

  # The TCP ports libp2p listens on (port 0, a random port, cannot be opened).
  listen =
    if cfg.settings.listen != null then
      cfg.settings.listen
    else
      [
        "/ip4/0.0.0.0/tcp/8566"
        "/ip6/::/tcp/8566"
      ];
  tcpPorts = lib.unique (
    lib.concatMap (
      address:
      let
        port = builtins.match ".*/tcp/([0-9]+)(/.*)?" address;
      in
      if port == null || builtins.head port == "0" then [ ] else [ (lib.toInt (builtins.head port)) ]
    ) listen
  );
  # A public node (announce) answers STUN on UDP: at its TCP ports, or at settings.stunPort (docs/CLI.md).
  stunPort = cfg.settings.stunPort;
  udpPorts =
    if cfg.settings.announce == null || cfg.settings.announce == [ ] || stunPort == false then
      [ ]
    else if builtins.isInt stunPort then
      [ stunPort ]
    else
      tcpPorts;
in
{
  options.services.trustix = {
    enable = mkEnableOption "the Trustix node (signed build logs, peer to peer, and a substituter decided by your vote)";

    package = mkOption {
      type = types.package;
      description = "Trustix: a derivation with bin/trustix (see the top of this file).";
    };

    dataDir = mkOption {
      type = types.str;
      default = "/var/lib/trustix";
      description = ''
        The data directory: keys (log.secret, cache.secret, peer.secret and their public halves), the
        LevelDB (db/) and the control socket (trustix.sock). Must be below /var/lib: systemd creates it
        (StateDirectory) for the service's dynamic user.
      '';
    };

    settings = mkOption {
      type = settingsType;
      default = { };
      description = "The config file (docs/CLI.md, \"The config file\"), written to /etc/trustix/config.json.";
    };

    logLevel = mkOption {
      type = types.enum [
        "error"
        "info"
        "debug"
        "trace"
      ];
      default = "error";
      description = "What the node logs to the journal (`--log-level`).";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the TCP ports libp2p listens on (from settings.listen; 8566 by default) for peers, and with settings.announce the UDP ports it answers STUN on (the same numbers, or settings.stunPort).";
    };

    useAsSubstituter = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Make the node Nix's only substituter and its cache key Nix's only trusted key, so that Nix installs
        only what your vote accepts (the upstream caches go in settings.upstreams). Replaces every other
        `nix.settings.substituters` and `trusted-public-keys`. Needs cachePublicKey. A path the vote does
        not decide (or any path while the node is down) is built locally.
      '';
    };

    cachePublicKey = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "myhost-1-cache:3Gx1rQ0nE2t8mOqk7W9n5cY0m3YqkzXKk3r2yq2l7xw=";
      description = ''
        The node's cache key, the contents of ''${dataDir}/cache.public. It is created at the node's
        first start, so it can only be set once the node has run (deploy, read it, set it, deploy again).
      '';
    };

    publishBuilds = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Publish every local build in the node's log: sets Nix's post-build-hook to the spool hook below (in
        the Nix store, root's). The daemon runs it as root; it leaves one file per build in the spool
        ${spoolDir} (a state directory of the node's) and never fails a build, also while the node is down.
      '';
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = lib.hasPrefix "/var/lib/" cfg.dataDir;
        message = "services.trustix.dataDir must be below /var/lib (it is the service's StateDirectory).";
      }
      {
        assertion = cfg.useAsSubstituter -> cfg.cachePublicKey != null;
        message = ''
          services.trustix.useAsSubstituter needs services.trustix.cachePublicKey: deploy once without
          useAsSubstituter, then set it to the contents of ${cfg.dataDir}/cache.public.
        '';
      }
    ];

    environment.systemPackages = [ cfg.package ];
    environment.etc."trustix/config.json".source = configFile;

    networking.firewall.allowedTCPPorts = mkIf cfg.openFirewall tcpPorts;
    networking.firewall.allowedUDPPorts = mkIf cfg.openFirewall udpPorts;

    nix.settings = lib.mkMerge [
      (mkIf cfg.useAsSubstituter {
        substituters = lib.mkForce [ substituterUrl ];
        trusted-public-keys = lib.mkForce [ cfg.cachePublicKey ];
      })
      (mkIf cfg.publishBuilds {
        post-build-hook = "${postBuildHook}";
      })
    ];

    # As docs/deploy/trustix.service, which explains each setting.
    systemd.services.trustix = {
      description = "Trustix node: signed build logs, peer to peer, and a substituter decided by your own vote";
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      wantedBy = [ "multi-user.target" ];
      restartTriggers = [ configFile ];
      serviceConfig = {
        Type = "exec";
        ExecStart = "${cfg.package}/bin/trustix start --data-dir ${cfg.dataDir} --config /etc/trustix/config.json --log-level ${cfg.logLevel}";
        # The node finishes the batch in progress, then stops.
        KillSignal = "SIGINT";
        Restart = "on-failure";
        RestartSec = "5s";
        # V8 sizes its heap at process start (docs/ARCHITECTURE.md, "Memory budget of a node").
        Environment = [
          "NODE_OPTIONS=--max-semi-space-size=2 --max-old-space-size=512"
          "MALLOC_ARENA_MAX=2"
        ];

        DynamicUser = true;
        StateDirectory = [
          (lib.removePrefix "/var/lib/" cfg.dataDir)
          (lib.removePrefix "/var/lib/" spoolDir)
        ];
        StateDirectoryMode = "0700";
        UMask = "0077";
        LimitNOFILE = 65536;

        NoNewPrivileges = true;
        CapabilityBoundingSet = "";
        AmbientCapabilities = "";
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectProc = "invisible";
        # AF_NETLINK: libp2p lists the host's addresses when it listens on 0.0.0.0 or ::.
        RestrictAddressFamilies = [
          "AF_UNIX"
          "AF_INET"
          "AF_INET6"
          "AF_NETLINK"
        ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        # V8's JIT writes machine code and then runs it: W^X must stay off.
        MemoryDenyWriteExecute = false;
        SystemCallArchitectures = "native";
        SystemCallFilter = [ "@system-service" ];
        SystemCallErrorNumber = "EPERM";
      };
    };
  };
}
