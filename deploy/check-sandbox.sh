#!/bin/sh
# Can bubblewrap start a sandbox here? One line either way; never fails the start.
if ! command -v bwrap >/dev/null 2>&1; then
  echo "sandbox: bwrap is not installed; runs go unsandboxed (sandbox_mode=auto) or fail (required)" >&2
  exit 0
fi
if err=$(bwrap --unshare-user --unshare-pid --unshare-net --ro-bind / / --proc /proc --dev /dev true 2>&1); then
  echo "sandbox: bwrap works (user, pid and net namespaces)" >&2
else
  echo "sandbox: bwrap cannot create namespaces here ($err): allow user namespaces" \
       "(docker: --security-opt seccomp=unconfined --security-opt apparmor=unconfined;" \
       "host: sysctl kernel.unprivileged_userns_clone=1)" >&2
fi
exit 0
