# libmemcached for the addon, as a target of its own.
#   libmemcached=internal (default): deps/libmemcached.sh builds static Release archives of
#     libmemcached 1.1.4 into deps/.cache/install, linked with their symbols hidden.
#   libmemcached=system: links the distribution's libmemcached found by pkg-config (>= 1.1.4,
#     checked at compile time). Select it with LIBMEMCACHED_LINKAGE=system in the environment
#     (deps/linkage.js; the older npm_config_libmemcached=system still works, with a warning),
#     or `node-gyp rebuild --libmemcached=system`.
{
  'variables': {
    'libmemcached%': '<!(node linkage.js)',
  },
  'conditions': [
    ['libmemcached == "internal"', {
      'variables': {
        'lm_prefix': '<(module_root_dir)/deps/.cache/install',
      },
      'targets': [{
        'target_name': 'libmemcached',
        'type': 'none',
        'actions': [{
          'action_name': 'build_libmemcached',
          'inputs': ['libmemcached.sh', '<!@(ls -1 patches/*.patch)'],
          'outputs': [
            '<(lm_prefix)/lib/libmemcachedutil.a',
            '<(lm_prefix)/lib/libmemcached.a',
            '<(lm_prefix)/lib/libhashkit.a',
          ],
          # Node's headers hold the OpenSSL headers that TLS (patches/0007-tls.patch) is built
          # against; the symbols are Node's own at run time.
          'action': ['bash', 'libmemcached.sh', 'build', '<(node_root_dir)/include/node'],
        }],
        'direct_dependent_settings': {
          'include_dirs': ['<(lm_prefix)/include'],
        },
        'link_settings': {
          'libraries': [
            '<(lm_prefix)/lib/libmemcachedutil.a',
            '<(lm_prefix)/lib/libmemcached.a',
            '<(lm_prefix)/lib/libhashkit.a',
            # libsasl2 is not linked: src/core/sasl_loader.cc opens it when a client first needs
            # SASL, so the addon loads where it is absent (minimal images). Its mechanisms are
            # plugins it loads itself; dlopen is in libdl before glibc 2.34.
            '-ldl',
            '-lpthread',
          ],
          'ldflags': ['-Wl,--exclude-libs,ALL'],
        },
      }],
    }, {
      'targets': [{
        'target_name': 'libmemcached',
        'type': 'none',
        'direct_dependent_settings': {
          'cflags': ['<!@(pkg-config --cflags libmemcached)'],
          'defines': ['LIBMEMCACHED_SYSTEM=1'],
        },
        'link_settings': {
          'libraries': ['<!@(pkg-config --libs libmemcached)', '-lpthread'],
        },
      }],
    }],
  ],
}
