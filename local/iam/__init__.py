"""Least privilege, checked locally: the synthesized roles' policies, the AWS calls each
runtime makes, and a LOCAL stand-in for IAM's policy evaluation that decides them."""
