{
  "targets": [
    {
      "target_name": "barelb_dataplane",
      "sources": [
        "src/addon.cc",
        "src/packet_socket.cc",
        "src/icmp6_socket.cc",
        "src/udp_socket.cc",
        "src/tcp_socket.cc",
        "src/errors.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        # N-API 8 is in every Node since 12.22/14.17/15.12/16: the binary does not depend on
        # the Node version that built it, only on this ABI level.
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NAPI_CPP_EXCEPTIONS"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
