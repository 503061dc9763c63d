//! The `status` of an init script on a host without systemd, cheaply.
//!
//! `/etc/init.d/X status` sources Debian's LSB helpers and runs the script's
//! preamble (cron's reads the locale with a dozen processes, nginx's runs
//! `cat | grep | awk | head` on its configuration): about 50 ms of the host's
//! CPU for cron. For the init scripts opsctl knows byte for byte (Debian 12's
//! cron, nginx, supervisor and fail2ban, by sha256), [`FNS`] gives the same
//! exit status from what the script itself looks at (its pidfile and the
//! process's liveness, as `pidofproc` and `start-stop-daemon` do; fail2ban's
//! socket), with shell builtins, after checking that nothing the script reads
//! first (`/etc/default/X`, the LSB helpers and their hooks, `/lib/init/vars.sh`,
//! `/etc/default/rcS`, fail2ban's configuration) could change that answer. Whenever a check cannot decide
//! (an unknown script or helper, a default file that sets something else, a
//! pid that is alive but not ours to signal, a fail2ban socket that exists,
//! PostgreSQL's `pg_lsclusters`), the script's own `status` runs.

/// `opsctl_sysv_status NAME` sets `r` to the exit status of
/// `/etc/init.d/NAME status` (and `by` to `facts` or `script`: which answered); `$hs` holds `sha256sum`'s lines for the init
/// scripts and [`HELPERS`], `$nl` a newline.
pub const FNS: &str = r#"opsctl_hash() {
  hv=; _rest=$hs
  while [ -n "$_rest" ]; do
    _l=${_rest%%"$nl"*}
    if [ "${_l#*  }" = "$1" ]; then hv=${_l%%  *}; return 0; fi
    case $_rest in *"$nl"*) _rest=${_rest#*"$nl"} ;; *) _rest= ;; esac
  done
  return 1
}
# a value a sourced file may assign without running anything
opsctl_safe_value() {
  case $1 in
    \"*\") _v=${1#\"}; _v=${_v%\"}; case $_v in *[!A-Za-z0-9_./:@%+,=\ -]*) return 1 ;; esac ;;
    \'*\') _v=${1#\'}; _v=${_v%\'}; case $_v in *[!A-Za-z0-9_./:@%+,=\ -]*) return 1 ;; esac ;;
    *) case $1 in *[!A-Za-z0-9_./:@%+,=-]*) return 1 ;; esac ;;
  esac
  return 0
}
# $1 a file the script sources (when readable), $2 the names it may set: every
# other line a comment or blank; each value is kept as o_NAME
opsctl_default_ok() {
  [ -r "$1" ] || return 0
  while read -r _l || [ -n "$_l" ]; do
    case $_l in ''|'#'*) continue ;; *=*) ;; *) return 1 ;; esac
    _n=${_l%%=*}; _v=${_l#*=}
    case " $2 " in *" $_n "*) ;; *) return 1 ;; esac
    opsctl_safe_value "$_v" || return 1
    eval "o_$_n=$_v"
  done < "$1"
  return 0
}
# the LSB helpers as Debian 12 ships them, no other hook
opsctl_lsb_ok() {
  opsctl_hash /lib/lsb/init-functions && [ "$hv" = f58bfadf2419d6036a2c7440e574c3c3e7a35aea380375f6ab1b590d64e5e952 ] || return 1
  opsctl_hash /lib/lsb/init-functions.d/00-verbose && [ "$hv" = e1c1b915d3e45deaddd57fd4bdd1ff490e0f8dd1e842b22cf2bdc963bbd29e13 ] || return 1
  for _h in /lib/lsb/init-functions.d/*; do [ "$_h" = /lib/lsb/init-functions.d/00-verbose ] || return 1; done
  [ ! -e /etc/lsb-base-logging.sh ]
}
# /etc/default/rcS, sourced when it is a file
opsctl_rcs_ok() {
  [ -f /etc/default/rcS ] || return 0
  [ -r /etc/default/rcS ] || return 1
  opsctl_default_ok /etc/default/rcS "TMPTIME SULOGIN DELAYLOGIN UTC VERBOSE FSCKFIX RAMRUN RAMLOCK ASYNCMOUNTNFS EDITMOTD"
}
# pidofproc -p $1 (LSB): 0 running, 1 dead with a pidfile, 3 no pidfile, 4 unreadable
opsctl_pidof() {
  [ -e "$1" ] || { r=3; return; }
  [ -r "$1" ] || { r=4; return; }
  _p=
  read _p < "$1"
  [ -n "$_p" ] || { r=3; return; }
  case $_p in *[!0-9]*) return ;; esac
  if kill -0 "$_p" 2>/dev/null; then r=0
  elif [ ! -d "/proc/$_p" ]; then r=1
  fi
}
opsctl_sv_cron() {
  [ -f /usr/sbin/cron ] || { r=0; return; }
  opsctl_lsb_ok || return
  o_READ_ENV=
  opsctl_default_ok /etc/default/cron "READ_ENV EXTRA_OPTS" || return
  if [ "$o_READ_ENV" = yes ]; then
    # parse_environment evals the locale variables it finds: plain values only
    for _e in /etc/environment /etc/default/locale; do
      [ -r "$_e" ] && [ -s "$_e" ] || continue
      while IFS= read -r _l || [ -n "$_l" ]; do
        case $_l in LANG=*|LANGUAGE=*|LC_ALL=*|LC_CTYPE=*) ;; *) continue ;; esac
        case ${_l#*=} in *=*) return ;; esac
        opsctl_safe_value "${_l#*=}" || return
      done < "$_e"
    done
  fi
  opsctl_pidof /var/run/crond.pid
}
opsctl_sv_nginx() {
  opsctl_default_ok /etc/default/nginx "ULIMIT DAEMON_OPTS STOP_SCHEDULE" || return
  [ -x /usr/sbin/nginx ] || { r=0; return; }
  opsctl_hash /lib/init/vars.sh && [ "$hv" = 49d734860b46c62805fc29a67b9d61210113b6eac2409e4ffd5cf14589f4f0a3 ] || return
  opsctl_rcs_ok || return
  opsctl_lsb_ok || return
  # the first `pid X;` of nginx.conf outside comments, as the script's awk
  # finds it: a statement of its own line, after a complete one
  _pf=; _at=1
  if [ -r /etc/nginx/nginx.conf ]; then
    while IFS= read -r _l || [ -n "$_l" ]; do
      _t=$_l
      while :; do case $_t in [\ \	]*) _t=${_t#?} ;; *) break ;; esac; done
      case $_t in '#'*) continue ;; '') continue ;; esac
      case $_t in
        *pid*)
          [ "$_at" = 1 ] || return
          case $_t in pid[\ \	]*) ;; *) return ;; esac
          _v=${_t#pid}
          while :; do case $_v in [\ \	]*) _v=${_v#?} ;; *) break ;; esac; done
          while :; do case $_v in *[\ \	]) _v=${_v%?} ;; *) break ;; esac; done
          case $_v in *\;) _v=${_v%\;} ;; *) return ;; esac
          case $_v in ''|*[!A-Za-z0-9_./-]*) return ;; esac
          _pf=$_v; break ;;
      esac
      while :; do case $_t in *[\ \	]) _t=${_t%?} ;; *) break ;; esac; done
      case $_t in *\;|*\{|*\}) _at=1 ;; *) _at=0 ;; esac
    done < /etc/nginx/nginx.conf
  fi
  opsctl_pidof "${_pf:-/run/nginx.pid}"
}
opsctl_sv_supervisor() {
  opsctl_lsb_ok || return
  [ -x /usr/bin/supervisord ] || { r=0; return; }
  [ ! -f /etc/default/supervisor ] || [ -r /etc/default/supervisor ] || return
  opsctl_default_ok /etc/default/supervisor "DAEMON_OPTS" || return
  _f=/var/run/supervisord.pid
  [ -f "$_f" ] || { r=1; return; }
  [ -r "$_f" ] || return
  # `cat` keeps every line but the trailing empty ones
  _p=; _more=
  { IFS= read -r _p; while IFS= read -r _x || [ -n "$_x" ]; do [ -z "$_x" ] || _more=1; done; } < "$_f"
  [ -z "$_more" ] || return
  [ -n "$_p" ] || { r=1; return; }
  case $_p in *[!0-9]*) return ;; esac
  [ -d "/proc/$_p" ] || { r=1; return; }
  # the script greps the process's command line for the daemon's path
  if grep -qaF -e /usr/bin/supervisord "/proc/$_p/cmdline" 2>/dev/null; then r=0; else r=1; fi
}
opsctl_sv_fail2ban() {
  # the socket: fail2ban.conf as Debian ships it, no .local, nothing in
  # fail2ban.d (the script greps the first two, the client reads all three)
  opsctl_hash /etc/fail2ban/fail2ban.conf && [ "$hv" = 4cb17f1e358cd3e4f6091e5801eecfa70e797b3f466d9e31227c115bf0c19ddd ] || return
  [ ! -e /etc/fail2ban/fail2ban.local ] || return
  for _c in /etc/fail2ban/fail2ban.d/*; do [ -e "$_c" ] && return; done
  [ -x /usr/bin/fail2ban-client ] || { r=0; return; }
  opsctl_default_ok /etc/default/fail2ban "FAIL2BAN_OPTS FAIL2BAN_USER" || return
  opsctl_rcs_ok || return
  opsctl_lsb_ok || return
  # no socket: the client's ping fails, check_socket finds nothing (3); a
  # socket (or anything) there: only the ping can tell
  _s=/var/run/fail2ban/fail2ban.sock
  [ -e "$_s" ] || [ -L "$_s" ] && return
  r=3
}
opsctl_sysv_status() {
  r=
  if opsctl_hash "/etc/init.d/$1"; then
    case $hv in
      c84c64b776f027f84357617ee3995b920dc7112014bcda3722bed3dcf332c26e) opsctl_sv_cron ;;
      d856e15d5604ac0f430afe70b90ead159314049c431292f0c6a07238d0717627) opsctl_sv_nginx ;;
      c595a67d7942d3a58220509b23e92ccfa60132b87f36ac83ce02cd6410ed50d2) opsctl_sv_supervisor ;;
      03f13f5d5f070e46abf0121bff24585787aae3e105b771b46dbb7064e4b2ceec) opsctl_sv_fail2ban ;;
    esac
  fi
  by=facts
  if [ -z "$r" ]; then by=script; "/etc/init.d/$1" status >/dev/null 2>&1 </dev/null; r=$?; fi
}
"#;

/// The helpers [`FNS`] checks by sha256, besides the init scripts.
pub const HELPERS: &[&str] = &[
    "/lib/lsb/init-functions",
    "/lib/lsb/init-functions.d/00-verbose",
    "/lib/init/vars.sh",
    "/etc/fail2ban/fail2ban.conf",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The functions parse in dash and bash, and an unknown script's status
    /// is the script's own exit status.
    #[test]
    fn unknown_scripts_answer_for_themselves() {
        for sh in ["/bin/sh", "/bin/bash"] {
            let script = format!(
                "nl='\n'\n{FNS}hs=\nopsctl_sysv_status opsctl-no-such-script; echo \"r=$r\""
            );
            let out = std::process::Command::new(sh)
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(text.trim(), "r=127", "{sh}: {text}");
        }
    }
}
