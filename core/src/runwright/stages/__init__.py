"""Built-in stage kinds, one file each, registered through the stage-type hook."""
