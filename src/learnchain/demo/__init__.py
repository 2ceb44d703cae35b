"""The scripted demo day (`make demo`, `learnchain demo`): see `learnchain.demo.day`."""
