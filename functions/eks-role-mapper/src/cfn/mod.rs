//! CloudFormation's custom-resource protocol: the request as it arrives (`event`), the one answer
//! and where it may go (`response`), and the rules that make it exactly one answer within the
//! deadline, handing a request on to a fresh invocation when it must (`protocol`).
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref.html>

pub(crate) mod event;
pub(crate) mod protocol;
pub(crate) mod response;
