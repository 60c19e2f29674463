//! DingTalk's limits on what a reply can hold, shared by the config check, the agent's tools and
//! delivery so that all three refuse the same things.

/// Most buttons on an action card: the robot API has templates for 1 to 5.
pub const MAX_BUTTONS: usize = 5;

/// Longest button label, in characters (longer ones are cut off by the clients).
pub const MAX_BUTTON_TITLE_CHARS: usize = 20;
