//! `--while STATUS`: CloudFormation holds the stack's custom resource as it reports it during
//! that operation (see [`crate::during`]) for one invoke step, and then puts it back as it was.
//! As CloudFormation does, it records each change as one of the resource's stack events
//! (DescribeStackEvents), the in-progress one with the properties the resource has (an operation
//! under way to the properties it holds); putting it back records the status it returns to.
//! Nothing is sent to the function but the invoked event.

use eks_sim::state::StackResource;
use eks_sim::Simulator;

use crate::during::During;

/// The custom resource's logical id in the template.
const LOGICAL_ID: &str = "Mapping";

/// Sets the resource to `r`, recording the event of its status (with the properties it keeps).
fn set_recorded(sim: &Simulator, stack_id: &str, r: &StackResource) {
    sim.set_stack_resource(stack_id, r);
    sim.set_stack_resource_status(stack_id, &r.logical_resource_id, &r.status);
}

/// The resource as it was before the hold, to put back.
pub(super) struct Held<'a> {
    sim: &'a Simulator,
    stack_id: String,
    before: Option<StackResource>,
}

/// Holds the stack's custom resource in `during`'s status (none without a resource: MapRole=false).
pub(super) fn hold<'a>(sim: &'a Simulator, stack_id: &str, during: During) -> Held<'a> {
    let before = sim.stack_resource(stack_id, LOGICAL_ID);
    if let Some(r) = &before {
        let mut held = r.clone();
        held.status = during.resource_status().to_string();
        if !during.keeps_physical_id() {
            held.physical_resource_id = None;
        }
        set_recorded(sim, stack_id, &held);
    }
    Held {
        sim,
        stack_id: stack_id.to_string(),
        before,
    }
}

impl Held<'_> {
    /// What DescribeStackResource reports during the hold (null without a resource).
    pub(super) fn resource_status(&self) -> Option<String> {
        self.sim
            .stack_resource(&self.stack_id, LOGICAL_ID)
            .map(|r| r.status)
    }

    /// Puts the resource back as it was before the hold.
    pub(super) fn restore(self) {
        if let Some(r) = &self.before {
            set_recorded(self.sim, &self.stack_id, r);
        }
    }
}
