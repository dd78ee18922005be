//! The seed's command-line modes, `/ForceBackup` and `/ManualSwitchOnly`
//! (not case-sensitive), which change how a node starts and runs.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct StartupModes {
    /// `/ForceBackup`: start as backup even when the peer cannot be reached.
    pub force_backup: bool,
    /// `/ManualSwitchOnly`: never switch automatically.
    pub manual_switch_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown command-line mode {0:?}; the modes are /ForceBackup and /ManualSwitchOnly")]
pub struct UnknownMode(pub String);

impl StartupModes {
    /// Reads modes written the seed's way (`/ForceBackup`) or duet's
    /// (`--force-backup`), in any case.
    pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Self, UnknownMode> {
        let mut modes = StartupModes::default();
        for arg in args {
            let key: String = arg
                .trim_start_matches(['/', '-'])
                .chars()
                .filter(|c| *c != '-' && *c != '_')
                .collect::<String>()
                .to_ascii_lowercase();
            match key.as_str() {
                "forcebackup" => modes.force_backup = true,
                "manualswitchonly" => modes.manual_switch_only = true,
                _ => return Err(UnknownMode(arg.to_string())),
            }
        }
        Ok(modes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_parameters_are_not_case_sensitive() {
        // The seed: "Command-line parameters are not case-sensitive."
        let modes = StartupModes::parse(["/forcebackup", "/MANUALSWITCHONLY"]).unwrap();
        assert!(modes.force_backup && modes.manual_switch_only);
        let modes = StartupModes::parse(["--manual-switch-only"]).unwrap();
        assert!(!modes.force_backup && modes.manual_switch_only);
        assert!(StartupModes::parse(["/Immediate"]).is_err());
    }
}
