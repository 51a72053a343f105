"""The node image\x27s build inputs (Dockerfile, package list, sshd config) and raftkv, shipped as package data so that a regular install can build the image too."""
