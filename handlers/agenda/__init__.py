"""The agenda: events and deadlines, their announcements, RSVPs, reminders and the listing."""
