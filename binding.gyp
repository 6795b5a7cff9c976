{
  'targets': [{
    'target_name': 'memcached',
    'dependencies': ['deps/libmemcached.gyp:libmemcached'],
    'sources': [
      # The binding: what JavaScript sees (the Client object, its lifetime, deliveries, exports).
      'src/binding/addon.cc',
      'src/binding/client.cc',
      'src/binding/constants.cc',
      'src/binding/protocol.cc',
      # The core: the engine and its I/O threads, which never touch JavaScript.
      'src/core/completions.cc',
      'src/core/config.cc',
      'src/core/engine.cc',
      'src/core/io_thread.cc',
      'src/core/io_commands.cc',
      'src/core/io_reads.cc',
      'src/core/io_writes.cc',
      'src/core/operation.cc',
      'src/core/sasl_loader.cc',
      'src/core/tls_support.cc',
      'src/core/value_pool.cc',
    ],
    'include_dirs': ['src', "<!(node -p \"require('node-addon-api').include_dir\")"],
    'defines': [
      # N-API 8: Node >= 12.22 / 14.17 / 16; gives type tags and async cleanup hooks.
      'NAPI_VERSION=8',
      'NAPI_CPP_EXCEPTIONS',
      'NODE_ADDON_API_DISABLE_DEPRECATED',
      # External buffers are used for large values only, with a copy where a V8 sandbox
      # refuses them (src/binding/client.cc, LargeValue; docs/performance.md).
    ],
    'cflags!': ['-fno-exceptions'],
    'cflags_cc!': ['-fno-exceptions', '-std=gnu++17', '-std=gnu++20'],
    'cflags_cc': ['-std=c++17', '-fexceptions', '-fvisibility=hidden', '-Wall', '-Wextra',
                  '-Wno-unused-parameter', '-Wno-missing-field-initializers',
                  # Keeps libstdc++'s inline code within glibc 2.28 (the file says how).
                  '-include', '<(module_root_dir)/src/util/glibc_floor.h'],
    'cflags': ['-fvisibility=hidden'],
    'ldflags': ['-Wl,--exclude-libs,ALL', '-Wl,--version-script=<(module_root_dir)/src/exports.map'],
    'xcode_settings': {
      'GCC_ENABLE_CPP_EXCEPTIONS': 'YES',
      'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
      'GCC_SYMBOLS_PRIVATE_EXTERN': 'YES',
    },
  }],
}
