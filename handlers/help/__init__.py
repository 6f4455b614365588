"""Help (!aide): the commands a person may use here, and one command's details."""
