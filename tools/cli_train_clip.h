/* train-direct --model clip (cli_train_clip.c). */
#ifndef MMF_CLI_TRAIN_CLIP_H
#define MMF_CLI_TRAIN_CLIP_H
/* its lines in train-direct --help, under "Models" */
#define CLI_TRAIN_CLIP_HELP \
    "  clip        contrastive dual encoders (the CLIP recipe) from raw pictures and\n" \
    "              words: a text transformer and a CNN, each with a linear projection,\n" \
    "              trained jointly with the symmetric InfoNCE loss over every pair of a\n" \
    "              batch and a learned temperature, on --records (every record's image\n" \
    "              against its concept's text; --pair-field groups records into\n" \
    "              concepts). Pictures get random resized crops, shifts, colour jitter\n" \
    "              and greyscale; texts are the name, the name with some of its \"tags\",\n" \
    "              or tags alone. With --val the epoch with the best text -> image R@10\n" \
    "              is kept (stopping after --patience epochs without one). --out DIR\n" \
    "              gets a model folder (model_type mmfuse_clip) that embed, index,\n" \
    "              search --text/--image, zeroshot and serve load like a CLIP folder.\n" \
    "              Options: --epochs [40] --batch [128] --lr [0.002] --weight-decay\n" \
    "              [0.05] --dim N (joint space) [128] --text-dim [128] --image-dim [128]\n" \
    "              --image-size [32] --layers [2] --heads [4] --max-length [32]\n" \
    "              --temperature T0 [0.07] --patience [8] --no-augment --dropout [0.1]\n" \
    "              --pair-field F [hexcode] --seed --threads --quiet\n"
/* The whole command line of `mmfuse train-direct --model clip ...`. */
int cli_train_clip(int argc, char **argv);
#endif
